def top(d):
    return sorted(d.items(), key=lambda kv: kv[1])[:3]
counts = {str(i): i for i in range(2000)}
print(top(counts)); del counts
