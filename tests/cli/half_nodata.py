# half_nodata.py: writes half.tif for the index and raster tests: a 200x120 georeferenced scene
# (EPSG:32633, 2 m pixels) of random colours whose right half is nodata (0 in every band).
import numpy as np
from osgeo import gdal, osr

ds = gdal.GetDriverByName("GTiff").Create("half.tif", 200, 120, 3, gdal.GDT_Byte)
ds.SetGeoTransform([500000, 2, 0, 4200000, 0, -2])
s = osr.SpatialReference()
s.ImportFromEPSG(32633)
ds.SetProjection(s.ExportToWkt())
rng = np.random.default_rng(3)
for b in range(3):
    a = rng.integers(1, 255, (120, 200), dtype=np.uint8)
    a[:, 100:] = 0
    band = ds.GetRasterBand(b + 1)
    band.SetNoDataValue(0)
    band.WriteArray(a)
ds = None
