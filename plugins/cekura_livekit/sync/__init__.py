"""Load every Cekura result incrementally (watermark, revisits, sources): see `sync.run`."""
