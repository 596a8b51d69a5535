DEV=eth0
