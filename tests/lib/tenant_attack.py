"""What a tenant's `owner` user plants to turn the operator's admin session.

Shared by the engine and controller tests. Every trap records who ran it in
public.pwned (so a test can check that the admin ran nothing of the
tenant's), then tries what an attacker is after: a dangerous predefined
role for itself and another team's password.
"""

# A function the admin must never run: it records who ran it, then tries what
# the attacker is after (a dangerous predefined role, another team's password).
TRAP_BODY = """
BEGIN
  INSERT INTO public.pwned VALUES (current_user, '%(what)s');
  BEGIN
    EXECUTE 'GRANT pg_execute_server_program TO %(attacker)s';
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
  BEGIN
    EXECUTE 'ALTER ROLE %(victim)s PASSWORD ''hijacked''';
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
  RETURN %(ret)s;
END
"""


def trap(what, attacker, victim, ret):
    return TRAP_BODY % {"what": what, "attacker": attacker, "victim": victim, "ret": ret}


def plant_sql(attacker, victim, db):
    """What a tenant's owner user can plant in its own database."""
    t = lambda what, ret: trap(what, attacker, victim, ret).replace("$", "$")  # noqa: E731
    return [
        "CREATE TABLE public.pwned (who text, what text)",
        "GRANT INSERT, SELECT ON public.pwned TO PUBLIC",
        # Shadows of the catalog functions the observation uses.
        "CREATE FUNCTION public.pg_get_userbyid(oid) RETURNS name LANGUAGE plpgsql AS $f$%s$f$"
        % t("pg_get_userbyid", "pg_catalog.pg_get_userbyid($1)"),
        "CREATE FUNCTION public.aclexplode(aclitem[]) RETURNS TABLE(grantor oid, grantee oid, "
        "privilege_type text, is_grantable boolean) LANGUAGE plpgsql AS $f$%s$f$"
        % trap("aclexplode", attacker, victim, "").replace(
            "RETURN ;", "RETURN QUERY SELECT * FROM pg_catalog.aclexplode($1);"),
        "CREATE FUNCTION public.concat_ws(text, text, name) RETURNS text "
        "LANGUAGE plpgsql AS $f$%s$f$" % t("concat_ws", "'x'"),
        "CREATE FUNCTION public.json_agg(anyelement) RETURNS json LANGUAGE sql AS "
        "$f$ SELECT '[]'::json $f$",
        # Operators with an exact match for the operand types the queries use.
        "CREATE FUNCTION public.trap_cat(name, name) RETURNS text LANGUAGE plpgsql AS $f$%s$f$"
        % t("||", "$1::text"),
        "CREATE OPERATOR public.|| (LEFTARG = name, RIGHTARG = name, FUNCTION = public.trap_cat)",
        "CREATE FUNCTION public.trap_eq(name, text) RETURNS boolean LANGUAGE plpgsql AS "
        "$f$%s$f$" % t("=", "$1::text OPERATOR(pg_catalog.=) $2"),
        "CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = text, FUNCTION = public.trap_eq)",
        "CREATE FUNCTION public.trap_eqo(oid, oid) RETURNS boolean LANGUAGE plpgsql AS "
        "$f$%s$f$" % t("oid=", "$1 OPERATOR(pg_catalog.=) $2"),
        "CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = public.trap_eqo)",
        # A view in front of a catalog.
        "CREATE FUNCTION public.trap_v() RETURNS boolean LANGUAGE plpgsql AS $f$%s$f$"
        % t("view", "true"),
        "CREATE VIEW public.pg_namespace AS SELECT * FROM pg_catalog.pg_namespace "
        "WHERE public.trap_v()",
        "CREATE VIEW public.pg_roles AS SELECT * FROM pg_catalog.pg_roles WHERE public.trap_v()",
        # The database's settings: resolve through public first, run as the
        # owner role, time out at once.
        "ALTER DATABASE %s SET search_path = public, pg_catalog" % db,
        "ALTER DATABASE %s SET role = '%s_owner'" % (db, db),
        "ALTER DATABASE %s SET statement_timeout = '1ms'" % db,
        "ALTER DATABASE %s SET lock_timeout = '1ms'" % db,
        "ALTER DATABASE %s SET default_transaction_read_only = on" % db,
    ]
