"""What the fleet benches share (bench/fleet/, bench/kiosk/day_soak.py): faults, probes of
the fleet's door, soak sessions and their ledger and plot.
"""
