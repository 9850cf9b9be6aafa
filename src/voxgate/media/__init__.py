"""Media relay (MEDIA-1…4, EDGE-4, EDGE-5): the edge controls it only through
:class:`voxgate.media.control.MediaControl`; engines implement it (built-in relay, rtpengine)."""
