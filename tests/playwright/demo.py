# The program the screenshot shows: input, colours, stderr.
import platform
import sys
import time

name = input("What's your name? ")
print(f"Hello, {name}! This is Python {platform.python_version()} in a sandbox.")
for i in range(1, 4):
    print(f"\033[32m[{'#' * i}{'.' * (3 - i)}]\033[0m step {i}/3")
    time.sleep(0.2)
print("this line went to stderr", file=sys.stderr)
