"""Live camera recording: the ffmpeg stream process and the manager that supervises recorders."""
