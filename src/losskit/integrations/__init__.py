"""Optional integrations with other frameworks (imported on demand, never by ``load_all``)."""
