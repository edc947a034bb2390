"""File ingest: the pipeline (segment, decode, embed, index), the job runner and durable job records."""
