"""voxgate.transport"""
