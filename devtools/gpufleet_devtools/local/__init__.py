"""The local fleet: the whole autoscaling loop on one machine, no cluster.

An emulated API server, a real Prometheus, the operator as a subprocess and a
node agent that plays kubelet (real inference server processes per pod), plus a
trace-replaying load generator. ``gpufleet local --help`` lists the commands.
"""
