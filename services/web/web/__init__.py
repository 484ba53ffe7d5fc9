"""Fangpin's web interface: pages rendered on the server over the services' APIs."""
