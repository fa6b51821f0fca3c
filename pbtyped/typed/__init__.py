"""Runtime support for generated code: schema checks and the plumbing stubs delegate to."""
