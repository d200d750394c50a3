"""The data stage: from a source of labelled 32x32 images to the ten datasets.

Takes a config's data source (CIFAR-10 by download, an image folder, or
synthetic images) and gives uint8 source images (``sources``, ``imagefolder``,
``classes``), mosaics stored as indices into them (``mosaics``), and the ten
float32 datasets: tiles blended at focus levels 1..9 in exact integer
arithmetic, plus the foregrounds alone (``datasets``, ``exact_blend``,
``weighting`` for noisy focus). ``design`` is the experiment's fixed shape
(nine tiles, levels 1..9, ten datasets, the halves of the mosaics), read by
every other stage; it and ``imagefolder`` are torch-free.
"""
