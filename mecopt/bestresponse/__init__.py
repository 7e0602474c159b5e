"""bestresponse."""
