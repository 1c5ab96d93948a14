"""SSH over paramiko: host addresses, host-key pins, connections, probes. The only package that imports paramiko."""
