"""Statement splitting for MySQL/MariaDB: the ``mysql`` client's rules, plus whole routines."""

from __future__ import annotations

import subprocess
import sys

import pytest

from migrata.errors import DiscoveryError, SQLSyntaxError
from migrata.models import Script, Statement
from migrata.split import split_script

PATH = "migrations/0001_init.sql"
FIX = "; fix the SQL (nothing was run)"


def my(text: str, *, first_line: int = 1) -> tuple[Statement, ...]:
    return split_script(Script(path=PATH, text=text, first_line=first_line), "mysql")


def sqls(statements: tuple[Statement, ...]) -> list[str]:
    return [s.sql for s in statements]


def assert_positions_consistent(text: str, statements: tuple[Statement, ...]) -> None:
    """offset points at the statement's text, and line/column agree with offset."""
    for st in statements:
        assert text[st.offset : st.offset + len(st.sql)] == st.sql
        before = text[: st.offset].replace("\r\n", "\n").replace("\r", "\n")
        assert st.line == before.count("\n") + 1
        assert st.column == len(before) - (before.rfind("\n") + 1) + 1


def error_of(text: str, *, first_line: int = 1) -> SQLSyntaxError:
    with pytest.raises(SQLSyntaxError) as info:
        my(text, first_line=first_line)
    err = info.value
    assert isinstance(err, DiscoveryError)
    assert err.path == PATH
    assert str(err).startswith(f"{PATH}:{err.line}:{err.column}: ")
    assert str(err).endswith(FIX)
    return err


def test_the_splitter_is_imported_only_when_a_script_is_split() -> None:
    code = (
        "import sys\n"
        "from migrata.models import Script\n"
        "from migrata.split import split_script\n"
        "print('migrata.backends.mysql.split' in sys.modules)\n"
        "split_script(Script(path='x.sql', text='SELECT 1;'), 'mysql')\n"
        "print('migrata.backends.mysql.split' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


# =========================================================================== basics


def test_simple_statements_and_a_final_one_without_delimiter() -> None:
    text = "CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);\nSELECT 1"
    result = my(text)
    assert sqls(result) == ["CREATE TABLE t (id INT)", "INSERT INTO t VALUES (1)", "SELECT 1"]
    assert [(s.line, s.column, s.offset) for s in result] == [(1, 1, 0), (2, 1, 25), (3, 1, 51)]
    assert_positions_consistent(text, result)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t\n",
        ";",
        ";;\n ;",
        "-- only a comment",
        "-- a; b\n# c; d\n/* e; */\n",
        "/* a; */;\n-- b\n;",
        "--",
        "#",
        "/**/",
        "DELIMITER $$\n",
        "DELIMITER $$\n-- nothing\n$$\nDELIMITER ;",
    ],
)
def test_empty_or_comment_only_scripts_give_no_statements(text: str) -> None:
    assert my(text) == ()


def test_empty_statements_are_dropped_and_whitespace_trimmed() -> None:
    text = "SELECT 1 ;; \n ;\t SELECT 2\t\n;\n"
    result = my(text)
    assert sqls(result) == ["SELECT 1", "SELECT 2"]
    assert (result[1].line, result[1].column) == (2, 5)
    assert_positions_consistent(text, result)


# =========================================================================== quotes


@pytest.mark.parametrize(
    "first",
    [
        "SELECT 'a;b'",
        r"SELECT 'it\'s; fine'",
        "SELECT 'it''s; fine'",
        r"SELECT 'backslash at the end\\', ';'",
        "SELECT '', ';', ''''",
        'SELECT "a;b"',
        r'SELECT "say \"hi\"; ok"',
        'SELECT "x"";y"',
        r'SELECT "\\", ";"',
        "SELECT `a;b` FROM t",
        "SELECT `a``;b` FROM t",
        'SELECT `it\'s; "odd"` FROM t',
        "SELECT 'a\nb;\nc', \"d;\ne\"",
        "SELECT '-- not; a comment', \"# nor; this\", `/* nor; that */`",
        "SELECT 'DELIMITER $$'",
    ],
)
def test_delimiter_inside_quotes_does_not_split(first: str) -> None:
    text = f"{first}; SELECT 2;"
    result = my(text)
    assert sqls(result) == [first, "SELECT 2"]
    assert_positions_consistent(text, result)


# =========================================================================== comments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT 1 # a; b\n, 2; SELECT 3", ["SELECT 1 # a; b\n, 2", "SELECT 3"]),
        ("SELECT 1 -- a; b\n, 2; SELECT 3", ["SELECT 1 -- a; b\n, 2", "SELECT 3"]),
        ("SELECT 1 --\ta; b\n, 2; SELECT 3", ["SELECT 1 --\ta; b\n, 2", "SELECT 3"]),
        ("SELECT 1 --\n, 2; SELECT 3", ["SELECT 1 --\n, 2", "SELECT 3"]),
        ("SELECT 1 /* a; b */ + 1; SELECT 3", ["SELECT 1 /* a; b */ + 1", "SELECT 3"]),
        ("SELECT 1 /* a;\n * b; **/ + 1; SELECT 3", ["SELECT 1 /* a;\n * b; **/ + 1", "SELECT 3"]),
        # not nested: the first */ closes the comment
        ("SELECT 1 /* a /* b */ + 1; SELECT 3", ["SELECT 1 /* a /* b */ + 1", "SELECT 3"]),
        # --1 is minus minus one, not a comment: SELECT 1--1 is 2
        ("SELECT 1--1; SELECT 3", ["SELECT 1--1", "SELECT 3"]),
        ("SELECT 1 --x; SELECT 3", ["SELECT 1 --x", "SELECT 3"]),
        ("SELECT 5---1;", ["SELECT 5---1"]),
        # -- followed by the end of the input, with and without a space
        ("SELECT 1; --", ["SELECT 1"]),
        ("SELECT 1; -- ", ["SELECT 1"]),
        ("SELECT 1; -- bye; really", ["SELECT 1"]),
        ("SELECT 1; # bye; really", ["SELECT 1"]),
        ("SELECT 1 -- bye; really", ["SELECT 1 -- bye; really"]),
        ("SELECT 1 # bye", ["SELECT 1 # bye"]),
        ("SELECT 1 /* bye; */", ["SELECT 1 /* bye; */"]),
    ],
)
def test_comments(text: str, expected: list[str]) -> None:
    result = my(text)
    assert sqls(result) == expected
    assert_positions_consistent(text, result)


def test_leading_comments_are_not_part_of_the_statement() -> None:
    text = "-- header; one\n# two;\n/* three;\n */  /* four */\n\n   SELECT 1; -- after;\nSELECT 2"
    result = my(text)
    assert sqls(result) == ["SELECT 1", "SELECT 2"]
    assert [(s.line, s.column, s.offset) for s in result] == [
        (6, 4, text.index("SELECT 1")),
        (7, 1, text.index("SELECT 2")),
    ]


# =========================================================================== executable comments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/*!40101 SET NAMES utf8 */;", ["/*!40101 SET NAMES utf8 */"]),
        (
            "/*!40101 SET NAMES utf8 */ ;\n/*!SET @a = 1*/",
            ["/*!40101 SET NAMES utf8 */", "/*!SET @a = 1*/"],
        ),
        ("/*M!100100 SET @x = 1 */;", ["/*M!100100 SET @x = 1 */"]),
        ("/*M!999999\\- enable the sandbox mode */;", ["/*M!999999\\- enable the sandbox mode */"]),
        ("SELECT /*!50000 'x;y', */ 2;", ["SELECT /*!50000 'x;y', */ 2"]),
        ("SELECT 1 /*!50000 + 1 */;", ["SELECT 1 /*!50000 + 1 */"]),
        # the delimiter inside one is not a boundary
        (
            "/*!50000 SELECT 6; */ SELECT 7; SELECT 8",
            ["/*!50000 SELECT 6; */ SELECT 7", "SELECT 8"],
        ),
        ("/*!50000 SELECT '*/;' */; SELECT 8", ["/*!50000 SELECT '*/;' */", "SELECT 8"]),
        ("/*!50000 SELECT `*/;` */; SELECT 8", ["/*!50000 SELECT `*/;` */", "SELECT 8"]),
        ("/*!*/;", ["/*!*/"]),
        (
            "-- plain\n/* plain */ /*!40000 ALTER TABLE t DISABLE KEYS */;",
            ["/*!40000 ALTER TABLE t DISABLE KEYS */"],
        ),
    ],
)
def test_executable_comments_are_statement_content(text: str, expected: list[str]) -> None:
    result = my(text)
    assert sqls(result) == expected
    assert_positions_consistent(text, result)


MYSQLDUMP = """\
-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)
--
-- Host: localhost    Database: shop
-- ------------------------------------------------------
-- Server version\t8.0.36

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!50503 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;

--
-- Table structure for table `users`
--

DROP TABLE IF EXISTS `users`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!50503 SET character_set_client = utf8mb4 */;
CREATE TABLE `users` (
  `id` int NOT NULL AUTO_INCREMENT,
  `name` varchar(100) NOT NULL DEFAULT '',
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
/*!40101 SET character_set_client = @saved_cs_client */;

LOCK TABLES `users` WRITE;
/*!40000 ALTER TABLE `users` DISABLE KEYS */;
INSERT INTO `users` VALUES (1,'a;b'),(2,'it\\'s; \\"q\\"'),(3,'x''y');
/*!40000 ALTER TABLE `users` ENABLE KEYS */;
UNLOCK TABLES;
/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `users_bi` BEFORE \
INSERT ON `users` FOR EACH ROW BEGIN
  IF NEW.name = '' THEN SET NEW.name = 'anon;'; END IF;
END */;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;

-- Dump completed on 2024-01-01 12:00:00
"""


def test_a_mysqldump_file() -> None:
    result = my(MYSQLDUMP)
    trigger = (
        "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `users_bi` "
        "BEFORE INSERT ON `users` FOR EACH ROW BEGIN\n"
        "  IF NEW.name = '' THEN SET NEW.name = 'anon;'; END IF;\n"
        "END */"
    )
    assert sqls(result) == [
        "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */",
        "/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */",
        "/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */",
        "/*!50503 SET NAMES utf8mb4 */",
        "/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */",
        "/*!40103 SET TIME_ZONE='+00:00' */",
        "/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */",
        "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */",
        "DROP TABLE IF EXISTS `users`",
        "/*!40101 SET @saved_cs_client     = @@character_set_client */",
        "/*!50503 SET character_set_client = utf8mb4 */",
        (
            "CREATE TABLE `users` (\n  `id` int NOT NULL AUTO_INCREMENT,\n"
            "  `name` varchar(100) NOT NULL DEFAULT '',\n  PRIMARY KEY (`id`)\n"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        ),
        "/*!40101 SET character_set_client = @saved_cs_client */",
        "LOCK TABLES `users` WRITE",
        "/*!40000 ALTER TABLE `users` DISABLE KEYS */",
        "INSERT INTO `users` VALUES (1,'a;b'),(2,'it\\'s; \\\"q\\\"'),(3,'x''y')",
        "/*!40000 ALTER TABLE `users` ENABLE KEYS */",
        "UNLOCK TABLES",
        "/*!50003 SET @saved_sql_mode       = @@sql_mode */",
        trigger,
        "/*!50003 SET sql_mode              = @saved_sql_mode */",
        "/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */",
        "/*!40101 SET SQL_MODE=@OLD_SQL_MODE */",
        "/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */",
    ]
    assert (result[0].line, result[0].column) == (7, 1)
    assert result[sqls(result).index(trigger)].line == 37
    assert_positions_consistent(MYSQLDUMP, result)


# =========================================================================== DELIMITER

PROCEDURE_BODY = (
    "CREATE PROCEDURE p(IN n INT)\n"
    "BEGIN\n"
    "  DECLARE i INT DEFAULT 0;\n"
    "  WHILE i < n DO SET i = i + 1; END WHILE;\n"
    "  SELECT i, ';', \"$$\", '//';\n"
    "END"
)
FUNCTION_BODY = (
    "CREATE FUNCTION f(x INT) RETURNS INT DETERMINISTIC\n"
    "BEGIN\n"
    "  RETURN IF(x > 0, x, -x); -- abs; $$ //\n"
    "END"
)
TRIGGER_BODY = (
    "CREATE TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW\n"
    "BEGIN\n"
    "  SET NEW.a = COALESCE(NEW.a, 0); /* default; $$ // */\n"
    "END"
)


@pytest.mark.parametrize("delimiter", ["$$", "//", ";;", "@@", "END$"])
def test_delimiter_switches_and_switches_back(delimiter: str) -> None:
    text = (
        "SELECT 1;\n"
        f"DELIMITER {delimiter}\n"
        f"{PROCEDURE_BODY}{delimiter}\n"
        f"{FUNCTION_BODY} {delimiter}\n"
        "\n"
        f"{TRIGGER_BODY}\n{delimiter}\n"
        "DELIMITER ;\n"
        "SELECT 2; SELECT 3\n"
    )
    result = my(text)
    assert sqls(result) == [
        "SELECT 1",
        PROCEDURE_BODY,
        FUNCTION_BODY,
        TRIGGER_BODY,
        "SELECT 2",
        "SELECT 3",
    ]
    assert [s.line for s in result] == [1, 3, 9, 14, 20, 20]
    assert (result[1].column, result[5].column) == (1, 11)
    assert_positions_consistent(text, result)


def test_custom_delimiter_is_the_only_boundary() -> None:
    text = (
        "DELIMITER //\n"
        "SELECT 1; SELECT 2//\n"
        "SELECT '//', `//`, \"//\" /* // */ -- //\n"
        "//\n"
        "SELECT 3 // SELECT 4//SELECT 5\n"
    )
    result = my(text)
    assert sqls(result) == [
        "SELECT 1; SELECT 2",
        "SELECT '//', `//`, \"//\" /* // */ -- //",
        "SELECT 3",
        "SELECT 4",
        "SELECT 5",
    ]
    assert_positions_consistent(text, result)


def test_no_block_tracking_while_a_custom_delimiter_is_active() -> None:
    # an unbalanced body is the author's business once they chose a delimiter
    text = "DELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1;$$\nSELECT 2$$"
    assert sqls(my(text)) == ["CREATE PROCEDURE p() BEGIN SELECT 1;", "SELECT 2"]


@pytest.mark.parametrize(
    ("line", "delimiter"),
    [
        ("DELIMITER $$", "$$"),
        ("delimiter $$", "$$"),
        ("Delimiter\t$$", "$$"),
        ("DELIMITER    $$   ", "$$"),
        ("DELIMITER $$ -- the rest of the line is ignored", "$$"),
        ("DELIMITER $$\r", "$$"),
        ("DELIMITER '//'", "//"),
        ('DELIMITER "//"', "//"),
        ("DELIMITER ;;", ";;"),
        ("DELIMITER |", "|"),
        ("/* switch */ DELIMITER //", "//"),
    ],
)
def test_delimiter_argument(line: str, delimiter: str) -> None:
    text = f"{line}\nSELECT 1; SELECT 2{delimiter}\nSELECT 3{delimiter}"
    result = my(text)
    assert sqls(result) == ["SELECT 1; SELECT 2", "SELECT 3"]
    assert result[0].line == 2


def test_delimiter_after_a_statement_on_the_same_line() -> None:
    assert sqls(my("SELECT 1; DELIMITER $$\nSELECT 2; SELECT 3$$")) == [
        "SELECT 1",
        "SELECT 2; SELECT 3",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1\nDELIMITER $$;",  # inside a pending statement: just text
        "SELECT 1 DELIMITER $$;",
    ],
)
def test_delimiter_is_a_command_only_where_a_statement_starts(text: str) -> None:
    assert len(my(text)) == 1


def test_delimiter_word_alone_is_not_the_command() -> None:
    assert sqls(my("SELECT delimiter FROM t; DELIMITERS;")) == [
        "SELECT delimiter FROM t",
        "DELIMITERS",
    ]


def test_positions_after_delimiter_lines_with_crlf() -> None:
    text = (
        "SELECT 1;\r\n"
        "DELIMITER $$\r\n"
        "CREATE PROCEDURE p()\r\nBEGIN\r\n  SELECT 1;\r\nEND$$\r\n"
        "DELIMITER ;\r\n"
        "  SELECT 2;\r\n"
    )
    result = my(text)
    assert sqls(result) == [
        "SELECT 1",
        "CREATE PROCEDURE p()\r\nBEGIN\r\n  SELECT 1;\r\nEND",
        "SELECT 2",
    ]
    assert [(s.line, s.column) for s in result] == [(1, 1), (3, 1), (8, 3)]
    assert_positions_consistent(text, result)


# =========================================================================== compound bodies without DELIMITER

PROCEDURE = """\
CREATE DEFINER=`admin`@`%` PROCEDURE fill(IN n INT)
BEGIN
  DECLARE i INT DEFAULT 0;
  DECLARE done INT DEFAULT FALSE;
  DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN SET done = TRUE; END;
  DROP TABLE IF EXISTS tmp;
  CREATE TEMPORARY TABLE IF NOT EXISTS tmp (x INT);
  fill_loop: LOOP
    SET i = i + 1;
    IF i > n THEN
      LEAVE fill_loop;
    ELSEIF i = 2 THEN
      ITERATE fill_loop;
    ELSE
      INSERT INTO tmp VALUES (IF(i > 2, i, -i));
    END IF;
  END LOOP fill_loop;
  WHILE i > 0 DO
    SET i = i - 1;
  END WHILE;
  REPEAT
    SET i = i + 1;
  UNTIL i >= 3 END REPEAT;
  SELECT CASE WHEN i > 1 THEN 'big;' ELSE 'small' END AS size;
  CASE i
    WHEN 1 THEN SELECT 1;
    ELSE BEGIN SELECT 2; END;
  END CASE;
  BEGIN
    BEGIN
      SELECT 'deep';
    END;
  END;
END"""

FUNCTION = """\
CREATE FUNCTION dist(a INT, b INT) RETURNS INT
DETERMINISTIC
COMMENT 'absolute difference; or zero'
BEGIN
  DECLARE d INT;
  SET d = CASE WHEN a > b THEN a - b ELSE b - a END;
  IF d IS NULL THEN RETURN 0; END IF;
  RETURN d;
END"""

TRIGGER = """\
CREATE TRIGGER orders_bi BEFORE INSERT ON orders FOR EACH ROW
BEGIN
  IF NEW.total < 0 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'negative; total';
  END IF;
  SET NEW.created = NOW();
END"""

EVENT = """\
CREATE EVENT IF NOT EXISTS purge_log ON SCHEDULE EVERY 1 DAY
ON COMPLETION PRESERVE DISABLE COMMENT 'nightly; purge'
DO BEGIN
  DELETE FROM log WHERE at < NOW() - INTERVAL 30 DAY;
  IF (SELECT COUNT(*) FROM log) > 1000 THEN DELETE FROM log; END IF;
END"""


@pytest.mark.parametrize(
    "body", [PROCEDURE, FUNCTION, TRIGGER, EVENT], ids=["proc", "func", "trig", "event"]
)
def test_compound_bodies_stay_one_statement_without_delimiter(body: str) -> None:
    text = f"SELECT 1;\n{body};\nSELECT 2;\n"
    result = my(text)
    assert sqls(result) == ["SELECT 1", body, "SELECT 2"]
    assert result[2].line == body.count("\n") + 3
    assert_positions_consistent(text, result)


@pytest.mark.parametrize(
    "head",
    [
        "CREATE PROCEDURE p()",
        "create procedure p()",
        "CREATE OR REPLACE PROCEDURE p()",
        "CREATE DEFINER = CURRENT_USER PROCEDURE p()",
        "CREATE DEFINER=CURRENT_USER() PROCEDURE p()",
        "CREATE DEFINER=root@localhost PROCEDURE p()",
        "CREATE DEFINER = 'app'@'%' PROCEDURE p()",
        "CREATE OR REPLACE DEFINER=`a b`@`localhost` PROCEDURE p()",
        "CREATE /* why not */ PROCEDURE p()",
        "CREATE\n  PROCEDURE IF NOT EXISTS p()",
        "CREATE FUNCTION f() RETURNS INT",
        "CREATE AGGREGATE FUNCTION agg(x INT) RETURNS INT",
        "CREATE DEFINER=`x`@`%` TRIGGER tr AFTER DELETE ON t FOR EACH ROW",
        "CREATE EVENT e ON SCHEDULE AT CURRENT_TIMESTAMP + INTERVAL 1 HOUR DO",
        "ALTER EVENT e DO",
        "ALTER DEFINER = CURRENT_USER EVENT e DO",
    ],
)
def test_routine_headers(head: str) -> None:
    body = f"{head} BEGIN SET @a = 1; SET @b = 2; END"
    assert sqls(my(f"{body}; SELECT 3")) == [body, "SELECT 3"]


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE procedure_log (begin_at INT)",
        "CREATE VIEW v AS SELECT 1",
        "CREATE PROCEDURES_ARE_NOT_THIS (a INT)",
        "CREATE FUNCTION f RETURNS STRING SONAME 'udf.so'",
        "DROP PROCEDURE IF EXISTS p",
        "DROP TRIGGER IF EXISTS t",
        "ALTER EVENT e DISABLE",
        "CALL p()",
    ],
)
def test_statements_without_bodies_end_at_their_semicolon(statement: str) -> None:
    assert sqls(my(f"{statement}; SELECT 2")) == [statement, "SELECT 2"]


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET NEW.a = 1",
        "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET NEW.a = IF(NEW.b, 1, 2)",
        "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET NEW.a = CASE WHEN 1 THEN 2 END",
        "CREATE TRIGGER t AFTER INSERT ON x FOR EACH ROW INSERT INTO log VALUES (NEW.id)",
        "CREATE FUNCTION f(x INT) RETURNS INT DETERMINISTIC RETURN IF(x > 0, x, 0)",
        "CREATE FUNCTION f(x INT) RETURNS INT RETURN CASE x WHEN 1 THEN 10 ELSE 0 END",
        "CREATE PROCEDURE p() SELECT 1",
        "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM log",
    ],
)
def test_single_statement_bodies_end_at_their_semicolon(statement: str) -> None:
    text = f"{statement};\nSELECT 2;"
    result = my(text)
    assert sqls(result) == [statement, "SELECT 2"]
    assert result[1].line == 2


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TRIGGER t BEFORE UPDATE ON x FOR EACH ROW IF NEW.a < 0 THEN SET NEW.a = 0; END IF",
        (
            "CREATE TRIGGER t BEFORE UPDATE ON x FOR EACH ROW\n"
            "CASE WHEN NEW.a < 0 THEN SET NEW.a = 0; ELSE SET NEW.b = 1; END CASE"
        ),
        "CREATE TRIGGER t2 BEFORE UPDATE ON x FOR EACH ROW FOLLOWS t BEGIN SET NEW.a = 1; END",
        (
            "CREATE TRIGGER t2 BEFORE UPDATE ON x FOR EACH ROW PRECEDES `t` "
            "IF NEW.a < 0 THEN SET NEW.a = 0; END IF"
        ),
        "CREATE PROCEDURE p() lbl: LOOP LEAVE lbl; END LOOP lbl",
        "CREATE PROCEDURE p() lbl: BEGIN SELECT 1; LEAVE lbl; END lbl",
        "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO IF 1 THEN SELECT 1; END IF",
        "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO WHILE 0 DO SELECT 1; END WHILE",
    ],
)
def test_compound_bodies_without_begin(statement: str) -> None:
    assert sqls(my(f"{statement}; SELECT 2")) == [statement, "SELECT 2"]


@pytest.mark.parametrize(
    "statement",
    [
        "BEGIN NOT ATOMIC DECLARE x INT DEFAULT 1; SELECT x; END",
        "begin not atomic SELECT 1; BEGIN SELECT 2; END; END",
        "IF 1 = 1 THEN SELECT 'a;'; ELSE SELECT 'b'; END IF",
        "IF (SELECT COUNT(*) FROM t) > 0 THEN DROP TABLE IF EXISTS u; END IF",
        "CASE WHEN 1 THEN SELECT 3; ELSE SELECT 4; END CASE",
        "WHILE 0 DO SELECT 5; END WHILE",
        "REPEAT SELECT 6; UNTIL 1 END REPEAT",
    ],
)
def test_mariadb_compound_statements_outside_programs(statement: str) -> None:
    assert sqls(my(f"{statement};\nSELECT 2;")) == [statement, "SELECT 2"]


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("BEGIN; INSERT INTO t VALUES (1); COMMIT;", 3),
        ("BEGIN WORK; INSERT INTO t VALUES (1); ROLLBACK;", 3),
        ("begin;\nSELECT 1;\nend;", 3),
        ("START TRANSACTION; SELECT 1; COMMIT", 3),
        ("XA BEGIN 'x'; XA END 'x';", 2),
    ],
)
def test_transactions_are_not_blocks(text: str, count: int) -> None:
    assert len(my(text)) == count


def test_keywords_inside_names_strings_and_comments_open_nothing() -> None:
    body = (
        "CREATE PROCEDURE p()\n"
        "BEGIN\n"
        "  DECLARE endpoint, beginning, end_ INT;\n"
        "  SELECT begin_date, end_at, my_if, loop_count, t.end, t.begin, @begin, @end, `end`,\n"
        "         `begin`, 'END', \"END IF\", x.if_flag, case_id, ifnull(a, b), repeat('x', 2)\n"
        "  FROM t; -- END; END IF\n"
        "  # END;\n"
        "  /* END; */\n"
        "  SET @x := 1, endpoint = 2, beginning = 3;\n"
        "  SET end_ = 1;\n"
        "END"
    )
    text = f"{body};\nSELECT 2;"
    assert sqls(my(text)) == [body, "SELECT 2"]


def test_begin_and_end_used_as_names_inside_a_body() -> None:
    body = (
        "CREATE PROCEDURE spans_in(IN begin DATE, IN end DATE)\n"
        "BEGIN -- the body\n"
        "  DECLARE n INT;\n"
        "  SELECT begin FROM spans WHERE begin >= begin AND end <= end ORDER BY begin, end;\n"
        "  SELECT COUNT(*) INTO n FROM spans WHERE (begin) IS NOT NULL;\n"
        "  INSERT INTO spans (begin, end) VALUES (begin, end);\n"
        "  BEGIN /* inner */ SELECT n; END;\n"
        "END"
    )
    assert sqls(my(f"{body};\nCALL spans_in('2024-01-01', '2024-02-01');")) == [
        body,
        "CALL spans_in('2024-01-01', '2024-02-01')",
    ]


def test_if_function_and_if_exists_open_no_block() -> None:
    body = (
        "CREATE PROCEDURE p() BEGIN\n"
        "  SET @a = IF(1, 2, 3);\n"
        "  SELECT IF(a, b, c), REPEAT('x', 2) FROM t;\n"
        "  DROP TABLE IF EXISTS t;\n"
        "  CREATE TABLE IF NOT EXISTS t (a INT);\n"
        "  IF(@a = 2) THEN SELECT 1; END IF;\n"
        "END"
    )
    assert sqls(my(f"{body}; SELECT 2")) == [body, "SELECT 2"]


def test_case_expression_inside_then_of_another() -> None:
    body = (
        "CREATE FUNCTION f(a INT) RETURNS INT BEGIN\n"
        "  RETURN CASE WHEN a > 0 THEN IF(a > 9, 9, a) ELSE CASE WHEN a < 0 THEN -1 END END;\n"
        "END"
    )
    assert sqls(my(f"{body}; SELECT 2")) == [body, "SELECT 2"]


def test_executable_comment_inside_a_body_is_neutral() -> None:
    body = "CREATE PROCEDURE p() BEGIN /*!50000 SELECT 1; */ END"
    assert sqls(my(f"{body}; SELECT 2")) == [body, "SELECT 2"]


def test_compound_body_with_crlf_and_first_line() -> None:
    text = "SELECT 1;\r\nCREATE PROCEDURE p()\r\nBEGIN\r\n  SELECT 1;\r\nEND;\r\n  SELECT 2;"
    result = my(text, first_line=10)
    assert sqls(result) == [
        "SELECT 1",
        "CREATE PROCEDURE p()\r\nBEGIN\r\n  SELECT 1;\r\nEND",
        "SELECT 2",
    ]
    assert [(s.line, s.column) for s in result] == [(10, 1), (11, 1), (15, 3)]
    assert [s.offset for s in result] == [0, 11, text.index("SELECT 2")]


# =========================================================================== positions


def test_positions_after_crlf_and_non_ascii() -> None:
    text = "SELECT 'é日😀';\r\n  SELECT 'ß'; -- ü\r\n\r\n SELECT 3;"
    result = my(text)
    assert sqls(result) == ["SELECT 'é日😀'", "SELECT 'ß'", "SELECT 3"]
    assert [(s.line, s.column) for s in result] == [(1, 1), (2, 3), (4, 2)]
    assert_positions_consistent(text, result)


def test_crlf_is_never_part_of_a_statement() -> None:
    text = "SELECT 1\r\n;\r\nSELECT 2 -- c\r\n;\r\nSELECT 3\r\n"
    assert sqls(my(text)) == ["SELECT 1", "SELECT 2 -- c", "SELECT 3"]


def test_first_line_shifts_lines() -> None:
    text = "SELECT 1;\nDELIMITER $$\nSELECT 2$$\n  SELECT 3"
    result = my(text, first_line=20)
    assert [(s.line, s.column) for s in result] == [(20, 1), (22, 1), (23, 3)]


# =========================================================================== errors


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("SELECT 1;\n  SELECT 'abc; SELECT 2;", 2, 10, "unterminated string"),
        ("SELECT 'it\\'s", 1, 8, "unterminated string"),
        ("SELECT 'abc''", 1, 8, "unterminated string"),
        ('SELECT 1;\nSELECT "abc;\n\nSELECT 2;', 2, 8, "unterminated string"),
        ("SELECT `abc; SELECT 2", 1, 8, "unterminated quoted identifier"),
        ("SELECT 1;\n/* never closed; SELECT 2;", 2, 1, "unterminated comment"),
        ("SELECT 1 /* never closed;", 1, 10, "unterminated comment"),
        ("SELECT 1;\n  /*!40101 SET NAMES utf8 ;", 2, 3, "unterminated executable comment"),
        ("/*M!100100 SET @a = 1", 1, 1, "unterminated executable comment"),
        ("/*!40101 SET @a = 'x */;", 1, 19, "unterminated string"),
        ("DELIMITER $$\nSELECT 'a$$", 2, 8, "unterminated string"),
        ("CREATE PROCEDURE p() BEGIN SELECT 'x; END;", 1, 35, "unterminated string"),
        ("CREATE PROCEDURE p() BEGIN SELECT `x; END;", 1, 35, "unterminated quoted identifier"),
        ("CREATE PROCEDURE p() BEGIN /* x; END;", 1, 28, "unterminated comment"),
    ],
)
def test_unterminated_literals_point_at_where_they_open(
    text: str, line: int, column: int, words: str
) -> None:
    err = error_of(text)
    assert (err.line, err.column) == (line, column)
    assert words in str(err)


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        (
            "SELECT 1;\n  CREATE PROCEDURE p() BEGIN SELECT 1;",
            2,
            3,
            "BEGIN has no END (opened at line 2, column 24; 1 block(s)",
        ),
        (
            "CREATE PROCEDURE p()\nBEGIN\n  IF a THEN\n    SELECT 1;\n  END IF;\nSELECT 2;",
            1,
            1,
            "BEGIN has no END (opened at line 2, column 1; 1 block(s)",
        ),
        (
            "CREATE PROCEDURE p() BEGIN\n  WHILE 1 DO SELECT 1;",
            1,
            1,
            "WHILE has no END WHILE (opened at line 2, column 3; 2 block(s)",
        ),
        ("IF 1 THEN SELECT 1;", 1, 1, "IF has no END IF"),
        (
            "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW\nCASE WHEN 1 THEN SET NEW.a = 1;",
            1,
            1,
            "CASE has no END CASE (opened at line 2",
        ),
        ("CREATE PROCEDURE p() BEGIN REPEAT SELECT 1; UNTIL 0", 1, 1, "REPEAT has no END REPEAT"),
    ],
)
def test_open_compound_statement_points_at_the_statement(
    text: str, line: int, column: int, words: str
) -> None:
    err = error_of(text)
    assert (err.line, err.column) == (line, column)
    assert "unterminated compound statement" in str(err)
    assert words in str(err)
    assert "DELIMITER" in str(err)


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("SELECT 1;\nDELIMITER\nSELECT 2;", 2, 1, "DELIMITER must be followed by"),
        ("SELECT 1;\n  DELIMITER   \r\nSELECT 2;", 2, 3, "DELIMITER must be followed by"),
        ("DELIMITER", 1, 1, "DELIMITER must be followed by"),
        ("DELIMITER ''", 1, 1, "DELIMITER must be followed by"),
        ("SELECT 1;\n\nDELIMITER \\\\\nSELECT 2", 3, 1, "DELIMITER cannot contain a backslash"),
        ("DELIMITER a\\b", 1, 1, "DELIMITER cannot contain a backslash"),
        ("DELIMITER 'a b'", 1, 1, "DELIMITER cannot contain white space"),
    ],
)
def test_bad_delimiter_lines(text: str, line: int, column: int, words: str) -> None:
    err = error_of(text)
    assert (err.line, err.column) == (line, column)
    assert words in str(err)


def test_errors_respect_first_line_and_crlf() -> None:
    err = error_of("SELECT 1;\r\n-- ß\r\n  SELECT 'open", first_line=7)
    assert (err.line, err.column) == (9, 10)
    assert str(err).startswith(f"{PATH}:9:10: unterminated string")


# =========================================================================== size


def test_a_megabyte_of_statements() -> None:
    row = "INSERT INTO t (id, name, note) VALUES ({0}, 'name;{0}', \"it\\'s\"); -- row {0}\n"
    other = "/* {0} */ UPDATE t SET name = CONCAT(name, '-') WHERE id = {0} # done\n;\n"
    parts = []
    size = 0
    count = 0
    while size < 1_000_000:
        for template in (row, other):
            part = template.format(count)
            parts.append(part)
            size += len(part)
        count += 1
    parts.append("DELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1; END$$\nDELIMITER ;\n")
    result = my("".join(parts))
    assert len(result) == 2 * count + 1
