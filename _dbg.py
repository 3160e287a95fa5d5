import numpy as np, torch, time, sys, threading
torch.set_num_threads(1)
def vm(): return {l.split(':')[0]: int(l.split()[1])//1024 for l in open('/proc/self/status') if l.startswith(('VmData',))}
def idle():
    while True: time.sleep(float(sys.argv[1]))
threading.Thread(target=idle, daemon=True).start()
from skdeepsphere import SphericalCNNClassifier
n=30517; mm=np.memmap('/tmp/skdeepsphere_memmap_30517x49152.f32',dtype=np.float32,mode='r',shape=(n,49152))
y=np.arange(n)%2
clf = SphericalCNNClassifier(channels=(2,), cheb_order=2, n_poolings=1, max_epochs=1, batch_size=32, random_state=0, device="cpu").fit(mm[:64], y[:64])
print("fitted", vm())
clf.predict(mm[:1500]); print("predict", vm())
X = np.array(mm[:1500]); print("copy", vm())
clf.predict(X); print("predict in memory", vm())
clf.predict(X); print("predict in memory", vm())
