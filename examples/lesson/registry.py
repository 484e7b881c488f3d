# Lesson section 2 "Why you cannot get value from id reliably", safe method: your own registry.
registry = {}

obj = {"topic": "Python", "time": "7 PM"}
registry[id(obj)] = obj

print(registry[id(obj)])
