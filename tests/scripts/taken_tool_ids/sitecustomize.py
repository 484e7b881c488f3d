# Other tools took every sys.monitoring id refscope may use, before any program started.
import sys

if hasattr(sys, "monitoring"):
    for tool in (2, 3, 4):
        sys.monitoring.use_tool_id(tool, f"other-{tool}")
