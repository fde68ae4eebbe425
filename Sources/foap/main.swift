print("foap")
