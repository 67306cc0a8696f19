"""Who asks, and may they: the caller, token verification, the purpose register and its pure decision, the
organisation register's rules, the privacy notice.
"""
