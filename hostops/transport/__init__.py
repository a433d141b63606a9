"""How commands reach a host: SSH (paramiko) or a local subprocess, behind one interface."""
