"""Physical constants (CGS) and HITRAN reference conditions used by ``jaxgeo.spectra``."""

C_LIGHT_CM_S = 2.99792458e10  # speed of light, cm/s
K_BOLTZMANN_ERG_K = 1.380649e-16  # Boltzmann constant, erg/K
AMU_G = 1.66053906660e-24  # atomic mass unit, g
AVOGADRO = 6.02214076e23  # 1/mol
C2_CM_K = 1.4387768775  # second radiation constant hc/k, cm K
T_REF_K = 296.0  # HITRAN reference temperature, K
P_REF_ATM = 1.0  # HITRAN reference pressure, atm
ATM_PA = 101325.0  # 1 atm in Pa
ATM_MBAR = 1013.25  # 1 atm in mbar
ATM_DYN_CM2 = 1.01325e6  # 1 atm in dyn/cm^2 (CGS pressure)
LOSCHMIDT_CM3 = 2.6867773e19  # number density at 273.15 K, 1 atm, 1/cm^3
T_STP_K = 273.15
LN2 = 0.6931471805599453
SQRT_LN2 = 0.8325546111576977
SQRT_PI = 1.7724538509055159
