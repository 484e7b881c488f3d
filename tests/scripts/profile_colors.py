# Calls into a standard-library module (colorsys, pure Python): only hls_to_rgb is called from
# here; it calls colorsys._v three times per call (its own node only with --all).
import colorsys

rows = []
for i in range(12):
    rgb = colorsys.hls_to_rgb(i / 12, 0.5, 0.8)
    rows.append(colorsys.rgb_to_hls(*rgb))
print(len(rows), round(rows[3][1], 3))
