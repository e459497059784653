"""Optional integrations with other frameworks (imported on demand: nothing in losskit imports
them)."""
