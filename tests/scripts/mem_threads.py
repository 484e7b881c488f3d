import threading

N = 2000


def work():
    for _ in range(N):
        x = [0] * 100  # allocates in every thread
    return x


threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("ok")
