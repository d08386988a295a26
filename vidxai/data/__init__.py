"""Datasets: synthetic action clips with exact ground truth, UCF101-24, Kinetics-400, UCF101, video folders."""
