"""The Textual box-office terminal (issue 4)."""
