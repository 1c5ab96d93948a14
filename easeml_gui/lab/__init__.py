"""Qt-free operations of a lab that the command line and the window share."""
