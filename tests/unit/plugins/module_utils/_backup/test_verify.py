from ansible_collections.frende.db.plugins.module_utils._backup.verify import toc_tables


def test_toc_tables():
    toc = ";\n; Archive created\n214; 1259 16385 TABLE public a postgres\n" \
          "3348; 0 16385 TABLE DATA public a postgres\n3349; 0 16392 TABLE DATA app user table owner\n"
    assert toc_tables(toc) == {"public.a", "app.user table"}
