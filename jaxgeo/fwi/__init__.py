"""Full-waveform inversion on jaxgeo.wave: misfits, gradient processing, optimizers,
multiscale filters, source encoding, forward/inversion workflows and data I/O."""
