"""What de-identification was applied, and the attacker's re-application of it.

``spec`` (obfuscation specs and applying them), ``estimate`` (estimating the method and strength
a release applied, per face region), ``transforms`` (inverting an obfuscation: deconvolution,
de-pixelation, denoising, for the reconstruct attack).
"""
