"""The bulk fast path: HTTP/1.1 on the standard library's ``http.client`` with a bounded pool of its own
(``connections``), many POSTs of DICOM files (``posts``), and the same spread over a cluster's nodes
(``node_posts``). Used only where it sends exactly what the client would (see ``connections``).
"""
