"""The where network: a focus network that learns which tile to look at.

Takes the source images and mosaics of the data stage and a what network's
architecture, and gives a jointly trained attention model (``attention``: a
focus network scoring the nine tiles, a softmax weighting them, Module2 on
their weighted average), how well it focuses per epoch and at the end
(``tables``), and its row and column on the accuracy map (``report``,
torch-free).
"""
