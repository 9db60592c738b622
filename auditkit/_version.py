"""auditkit's version (its own module, so that modules can import it without importing the package API)."""
__version__ = "0.1.0"
