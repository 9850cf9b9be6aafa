"""voxgate.sdp"""
