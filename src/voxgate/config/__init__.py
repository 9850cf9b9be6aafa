"""voxgate.config"""
