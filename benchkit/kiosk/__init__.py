"""What the kiosk benches share (bench/kiosk/): the page in Chromium, the product server
in its own process, the presence scenes, the working-day soak's visitors and memory.
"""
