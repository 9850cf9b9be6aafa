"""The embedded call control: registrar, location service, calls between extensions."""
