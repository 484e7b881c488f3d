# threading.settrace: every new thread starts with the program's trace function.
import sys
import threading

seen = []


def tracer(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "job":
        seen.append(threading.current_thread().name)
    return None


def job():
    return sum(range(100))


threading.settrace(tracer)
print(threading.gettrace() is tracer if hasattr(threading, "gettrace") else True)
ts = [threading.Thread(target=job, name=f"t{i}") for i in range(3)]
for t in ts:
    t.start()
for t in ts:
    t.join()
threading.settrace(None)
print(sorted(seen), sys.gettrace())
