"""The `lab` command: provision, start, stop and check the lab's stack."""
