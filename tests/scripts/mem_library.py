import json

data = list(range(10000))
text = json.dumps(data)
print(len(text))
