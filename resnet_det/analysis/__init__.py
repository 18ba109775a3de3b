"""The paper's analyses: training curves (Fig. 6) and layer responses (Fig. 7)."""
