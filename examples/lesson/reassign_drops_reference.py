# Lesson section 3 "Freeing memory: del, reassigning, and reference counts", reassigning drops the old object.
big = [i for i in range(1_000_00)]
big = None  # old list may be freed if no other refs exist
