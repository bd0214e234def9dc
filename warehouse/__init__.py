"""Persistence: the Parquet snapshot store and the SQL incident store (built by later issues)."""
