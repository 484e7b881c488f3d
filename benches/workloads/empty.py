"""Empty program: measures each tool's startup and shutdown cost."""
