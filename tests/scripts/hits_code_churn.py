# Code objects come and go (exec, compile): an address freed by one may be reused by the next,
# traced or not.
src_lib = "def helper():\n    return 2\n"
src_ours = "def ours():\n    return 1\n"
total = 0
for i in range(300):
    ns = {}
    exec(compile(src_lib, "<generated>", "exec"), ns)
    total += ns["helper"]()
    del ns
    mine = {}
    exec(compile(src_ours, __file__, "exec"), mine)
    total += mine["ours"]()
    del mine
print(total)
