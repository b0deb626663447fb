"""Export in TF Serving's layout, the embedded TF Serving-compatible server, deploy files, client."""
