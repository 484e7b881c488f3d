# os.fork twice: one child ends with os._exit, the other is killed by SIGKILL mid-way.
import os
import signal


def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


pid = os.fork()
if pid == 0:
    work(300)
    os._exit(0)
os.waitpid(pid, 0)

pid = os.fork()
if pid == 0:
    work(200)
    os.kill(os.getpid(), signal.SIGKILL)
_, status = os.waitpid(pid, 0)
print("killed by", os.WTERMSIG(status))
print("parent", work(100))
